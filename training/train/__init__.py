"""Training stage: configs, the shared training loop (engine), and the P-VAE, RoPAR and evaluator
trainers."""
