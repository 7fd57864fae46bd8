"""Housing prices: training, the registry of price models and predictions."""
