"""Evaluation stage: the text-motion evaluator (judge), metrics, `evaluate` and the report."""
