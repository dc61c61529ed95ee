"""Training loop, augmentation, evaluation report, threshold calibration, retraining (torch)."""
