"""The trained AI-text classifier: the detector, the model on disk (skops files and a manifest), training (hashed
n-grams, stacked and cascade heads), machine examples generated without labels, the cascade's router, and the
quality metrics training reports at low false-positive rates."""
