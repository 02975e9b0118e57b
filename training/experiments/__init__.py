"""Experiments: what is trained and measured for the reports (report, key claim, judge check, per-action
retrieval), on typed budgets (runs.Budget / runs.RunSpec) and the typed trainers of training.train."""
