#!/bin/sh
# embed-sql.sh - turn sql/NNN_name.sql files into a C table, so the hookd
# binary carries its migrations and needs no files beside it.
set -eu
echo "/* generated from sql/ by scripts/embed-sql.sh at build time */"
echo "#include \"migrate.h\""
echo "const struct hk_migration hk_migrations[] = {"
for f in "$@"; do
	base=$(basename "$f" .sql)
	ver=${base%%_*}
	printf '\t{ %d, "%s",\n' "$(expr "$ver" + 0)" "$base"
	sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/\t  "/' -e 's/$/\\n"/' "$f"
	printf '\t},\n'
done
printf "\t{ 0, NULL, NULL }\n"
echo "};"
