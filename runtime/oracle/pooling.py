"""NumPy oracles of MaxPool2d and AvgPool2d (added with the pooling layers)."""
