"""Comments that lead somewhere: masking, themes, anonymous replies and sensitive-word flags."""
