#!/usr/bin/env bash
# One-shot set-up of a fresh Debian machine for aquifer: the Fashion-MNIST data
# package, iproute2, chromium (the web UI's browser tests drive Debian's build; no
# browser is ever downloaded), a JDK (the POJO tests compile and run exported models)
# and the project with its test tools. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d /usr/share/datasets/fashion-mnist ] || ! command -v ip >/dev/null || ! command -v chromium >/dev/null \
        || ! command -v javac >/dev/null; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq dataset-fashion-mnist iproute2 chromium \
        default-jdk-headless >/dev/null
fi
python3 -m pip install -q -e '.[test]'
