"""Models: which checkpoint a name means (Hub id or folder), loading it as a Keras model, losses, layer freezing,
and batched forward passes."""
