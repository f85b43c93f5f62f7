#!/bin/sh
# Rebuilds the committed test packages from their WiX sources with wixl (Debian package "wixl").
# Run from anywhere: sh msi/testdata/gen.sh
set -eu
cd "$(dirname "$0")"
wixl -a x64 -o ok.msi ok.wxs
wixl -a x64 -o fails.msi fails.wxs
