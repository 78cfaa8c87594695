"""Stage 3: people found by the detector -> 3D bodies (regressed by a network, or fitted to keypoints)."""
