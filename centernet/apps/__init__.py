"""Command-line applications built on the Predictor: `demo` (video, camera, image and folder input), `export`."""
