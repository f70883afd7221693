#!/usr/bin/env bash
# The C code is formatted by .clang-format: `clang-format --dry-run -Werror`
# over src/, include/, contrib/ and tests/unit (meson test 'format').
# Fix with: clang-format -i FILE... (or this script with --fix).
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files 'src/*.[ch]' 'include/*.h' 'contrib/*.[ch]' 'tests/unit/*.[ch]')
if [ "${1:-}" = --fix ]; then
	clang-format -i "${files[@]}"
	exit 0
fi
clang-format --dry-run -Werror "${files[@]}"
echo "check-format: ${#files[@]} files formatted"
