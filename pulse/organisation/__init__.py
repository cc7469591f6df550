"""Organisation-wide settings admins can change (name, time zone, threshold)."""
