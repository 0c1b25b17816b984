"""Revisions, one file each, named ``000N_<what>.py``; the revision id is the file's stem."""
