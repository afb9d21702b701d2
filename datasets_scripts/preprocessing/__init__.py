"""Preprocessing tools that make what pre-training reads for every video: hand-motion descriptions
(`describe_hands`), per-frame hand features (`extract_hand_features`) and description embeddings
(`description_embeddings`). Each is a command-line tool; `jobs` holds what they share."""
