#!/bin/sh
# embed-dashboard.sh - turn the dashboard's page, script and style
# (server/stats/dashboard.{html,js,css}) into the C table hk_dashboard_files,
# so the hookd binary carries them and needs no files beside it.
#
# Each line becomes a string literal: backslash and double quote escaped,
# and "?" too, so that "??" in the script is never read as a C trigraph.
set -eu
echo "/* generated from server/stats/dashboard.* by scripts/embed-dashboard.sh */"
echo "#include \"dashboard.h\""
n=0
for f in "$@"; do
	printf 'static const char hk_dashboard_f%d[] =\n' "$n"
	sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/?/\\?/g' \
	    -e 's/^/\t"/' -e 's/$/\\n"/' "$f"
	printf '\t;\n'
	n=$((n + 1))
done
echo "const struct hk_dashboard_file hk_dashboard_files[] = {"
n=0
for f in "$@"; do
	case $f in
	*.html) path=/dashboard type="text/html; charset=utf-8" ;;
	*.js)   path=/dashboard/$(basename "$f") type="text/javascript; charset=utf-8" ;;
	*.css)  path=/dashboard/$(basename "$f") type="text/css; charset=utf-8" ;;
	*) echo "embed-dashboard.sh: $f: not .html, .js or .css" >&2; exit 1 ;;
	esac
	printf '\t{ "%s", "%s", hk_dashboard_f%d,\n\t  sizeof(hk_dashboard_f%d) - 1 },\n' \
	    "$path" "$type" "$n" "$n"
	n=$((n + 1))
done
printf "\t{ NULL, NULL, NULL, 0 }\n"
echo "};"
