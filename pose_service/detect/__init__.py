"""Stage 2: RGB image -> people with 2D (and, where the detector gives them, 3D) BODY_25 keypoints."""
