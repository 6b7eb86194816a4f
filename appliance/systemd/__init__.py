"""systemd units, sysusers.d, tmpfiles.d and udev files of tdmgw (see install.py)."""
