"""lstmgan-ray: an LSTM-generator / Conv1D-discriminator GAN for time series, trained on Ray."""

__version__ = "0.1.0"
