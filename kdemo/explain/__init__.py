"""Looking inside a prediction: per-head attention maps (numbers, figures, browser views) and token attributions."""
