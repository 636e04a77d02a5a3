"""What the machine has: installed and available memory (for defaults, heartbeats and size checks).

>>> physical_memory_bytes() >= free_memory_bytes() > 0
True
"""
from __future__ import annotations

import os


def physical_memory_bytes() -> int:
    """Installed memory, or 0 when the system does not say."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return 0


def free_memory_bytes() -> int:
    """MemAvailable from /proc/meminfo (what a new allocation can get), else free pages."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return 0
