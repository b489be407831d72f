# Shared by the benchmark scripts (source it).

# shifted_topology DIR: writes regions/ to DIR with every port moved up by 5000 (still below the ephemeral port range, 32768+), so a
# benchmark never disturbs a topology running on the default ports.
shifted_topology() {
  mkdir -p "$1"
  cp regions/*.yaml "$1/"
  python3 - "$1" <<'PY'
import re, sys, glob
for f in glob.glob(sys.argv[1] + "/*.yaml"):
    text = open(f).read()
    open(f, "w").write(re.sub(r'\b(2\d{4})\b', lambda m: str(int(m.group(1)) + 5000), text))
PY
}
