function fl() {
  if (dl > 0) {
    s++; a %= 65521; b %= 65521
    printf "D%d:%s:%04x%04x\n", s, d, a, b
    d = ""; dl = 0; a = 1; b = 0
  }
}
BEGIN {
  M = "CURTAIN" "-FRAME"
  for (i = 1; i < 256; i++) { c = sprintf("%c", i); O[c] = i; X[c] = sprintf("%02x", i) }
  for (i = 0; i < 256; i++) V[sprintf("%02x", i)] = i
  printf "\n%s BEGIN %s\n", M, n
  s = 0; nb = 0; d = ""; dl = 0; a = 1; b = 0
}
/^ / {
  for (i = 1; i <= NF; i++) { a += V[$i]; b += a }
  a %= 65521; b %= 65521
  t = $0; gsub(/ /, "", t); d = d t; dl += NF; nb += NF
  if (dl >= 480) fl()
  next
}
/^R/ {
  t = substr($0, 2); m = length(t)
  for (i = 1; i <= m; i++) {
    c = substr(t, i, 1); a += O[c]; b += a; d = d X[c]; dl++; nb++
    if (dl >= 480) fl()
  }
  a %= 65521; b %= 65521
  next
}
/^H/ {
  fl(); t = substr($0, 2); m = length(t); a = 2; b = 0
  for (i = 1; i <= m; i++) { a += O[substr(t, i, 1)]; b += a }
  s++; printf "H%d:%s:%04x%04x\n", s, t, a % 65521, b % 65521
  a = 1; b = 0; next
}
END { fl(); printf "%s END %s %d %d\n", M, n, s, nb }
