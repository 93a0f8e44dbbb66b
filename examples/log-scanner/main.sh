#!/bin/sh
# A Roboto-style action in plain sh. It reads what the runtime contract promises:
#   ROBOTO_INPUT_DIR / ROBOTO_OUTPUT_DIR, ROBOTO_PARAM_<name> (defaults included),
#   ROBOTO_FILE_METADATA_CHANGESET_FILE (JSON Lines, one update per line, as the SDK's
#   file_changeset_manager writes them) and ROBOTO_DATASET_METADATA_CHANGESET_FILE (one JSON object).
set -eu

pattern="${ROBOTO_PARAM_pattern}"
report="${ROBOTO_OUTPUT_DIR}/${ROBOTO_PARAM_report_name}"
min_matches="${ROBOTO_PARAM_min_matches}"
changes="${ROBOTO_FILE_METADATA_CHANGESET_FILE}"

json_string() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"; }

# One line as file_changeset_manager.put_tags + put_fields would write it.
tag_file() { # tag_file PATH TAG FIELDS_JSON
  printf '{"relative_path":%s,"update":{"description":{},"device_id":{},"metadata_changeset":{"put_tags":["%s"],"remove_tags":null,"put_fields":%s,"remove_fields":null,"replace_all":false},"ingestion_complete":{}}}\n' \
    "$(json_string "$1")" "$2" "$3" >>"$changes"
}

echo "log-scanner: looking for \"$pattern\" in $ROBOTO_INPUT_DIR (dataset $ROBOTO_DATASET_ID)"
echo "file,lines,matches" >"$report"
files=0
total=0
flagged=0
cd "$ROBOTO_INPUT_DIR"
for file in $(find . -type f ! -name action_inputs_manifest.json | sed 's|^\./||' | sort); do
  lines=$(wc -l <"$file")
  matches=$(grep -cF -- "$pattern" "$file" || true)
  echo "$file,$lines,$matches" >>"$report"
  files=$((files + 1))
  total=$((total + matches))
  if [ "$matches" -ge "$min_matches" ]; then
    flagged=$((flagged + 1))
    mkdir -p "$ROBOTO_OUTPUT_DIR/matches/$(dirname "$file")"
    grep -F -- "$pattern" "$file" >"$ROBOTO_OUTPUT_DIR/matches/$file"
    tag_file "matches/$file" "has-matches" "{\"matches\":$matches,\"source.path\":$(json_string "$file")}"
  fi
  echo "log-scanner: $file: $matches of $lines lines match"
done

tag_file "$ROBOTO_PARAM_report_name" "report" "{\"files_scanned\":$files}"
printf '{"put_tags":["scanned-by-log-scanner"],"put_fields":{"log_scanner":{"pattern":%s,"total_matches":%d,"files_flagged":%d}}}\n' \
  "$(json_string "$pattern")" "$total" "$flagged" >"$ROBOTO_DATASET_METADATA_CHANGESET_FILE"
echo "log-scanner: $total matching lines in $flagged of $files files" >&2
