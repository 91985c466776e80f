# Sourced by the test runners (test.sh, test-system.sh): bun's verdict from its own summary lines
# in FILE, printed as the closing line CI reads ("N passed, N failed, N skipped"). Returns 1 when a
# test failed, bun printed no summary, or (with "some") when no test passed at all.
closing_line() { # file all|some
  pass=$(grep -Eo '^ *[0-9]+ pass$' "$1" | tail -n 1 | tr -dc 0-9)
  fail=$(grep -Eo '^ *[0-9]+ fail$' "$1" | tail -n 1 | tr -dc 0-9)
  skip=$(grep -Eo '^ *[0-9]+ skip$' "$1" | tail -n 1 | tr -dc 0-9)
  [ -n "$pass" ] || pass=0
  [ -n "$fail" ] || fail=0
  echo "${pass} passed, ${fail} failed, ${skip:-0} skipped"
  if [ "$fail" -ne 0 ] || ! grep -Eq '^Ran [0-9]+ tests' "$1"; then return 1; fi
  if [ "$2" = "some" ] && [ "$pass" -eq 0 ]; then return 1; fi
  return 0
}
