// A Python + Flask image for the docker tests, built without a registry: `docker import` of a tar of
// this machine's own python3, dash and python3-flask files (Debian's packages) with the shared
// libraries they need, and the test programs under /app.
import { spawnSync } from 'node:child_process'

const FLASK_PACKAGES = ['flask', 'werkzeug', 'jinja2', 'markupsafe', 'itsdangerous', 'click', 'blinker']

export function buildPythonImage(tag: string, programsDir: string): void {
  if (spawnSync('docker', ['image', 'inspect', tag], { stdio: 'ignore' }).status === 0) return
  const script = `
set -euo pipefail
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
PY=$(readlink -f /usr/bin/python3)
mkdir -p "$D/usr/bin" "$D/usr/lib64" "$D/usr/sbin" "$D/tmp" "$D/app" "$D/usr/lib/python3/dist-packages" "$D/etc"
chmod 1777 "$D/tmp"
ln -s usr/bin "$D/bin"; ln -s usr/lib "$D/lib"; ln -s usr/lib64 "$D/lib64"; ln -s usr/sbin "$D/sbin"
cp -a "$PY" "$D/usr/bin/"; ln -s "$(basename "$PY")" "$D/usr/bin/python3"
cp -a /usr/bin/dash "$D/usr/bin/"; ln -s dash "$D/usr/bin/sh"
V=$(basename "$PY")
cp -a --parents "/usr/lib/$V" "$D/"
for p in ${FLASK_PACKAGES.join(' ')}; do
  for f in /usr/lib/python3/dist-packages/$p /usr/lib/python3/dist-packages/$p.py; do
    [ -e "$f" ] && cp -a "$f" "$D/usr/lib/python3/dist-packages/"
  done
  cp -a /usr/lib/python3/dist-packages/\${p}*-info "$D/usr/lib/python3/dist-packages/" 2>/dev/null || true
  cp -a /usr/lib/python3/dist-packages/$(echo \${p^})*-info "$D/usr/lib/python3/dist-packages/" 2>/dev/null || true
done
cp -a /usr/lib/python3/dist-packages/Flask-* /usr/lib/python3/dist-packages/Jinja2-* /usr/lib/python3/dist-packages/MarkupSafe-* /usr/lib/python3/dist-packages/Werkzeug-* "$D/usr/lib/python3/dist-packages/" 2>/dev/null || true
for f in $(ldd "$PY" /usr/bin/dash /usr/lib/$V/lib-dynload/*.so /usr/lib/python3/dist-packages/markupsafe/*.so 2>/dev/null | grep -o '/[^ ]*' | sort -u); do
  [ -e "$f" ] && cp -L --parents "$f" "$D/"
done
echo 'root:x:0:0:root:/root:/bin/sh' > "$D/etc/passwd"
cp -a "${programsDir}"/. "$D/app/"
tar -C "$D" -c . | docker import -c 'WORKDIR /app' -c 'ENV PYTHONUNBUFFERED=1' - "${tag}"
`
  const r = spawnSync('bash', ['-c', script], { encoding: 'utf8', timeout: 300_000 })
  if (r.status !== 0) throw new Error(`building ${tag} failed: ${r.stderr}`)
}
