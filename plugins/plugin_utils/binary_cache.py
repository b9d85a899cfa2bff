# Copyright: contributors to matrix-users
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""The binary cache on the target: each module binary kept once per version, run from there.

Layout: <dir>/<module>_<platform>-<sha256>, mode 0700, in a directory (mode 0700) that belongs to
the user who runs the modules. A warm task is ONE command over the connection, with the module's
arguments on its standard input (never on a command line, never in a file):

    checks the directory (not a link, owned by the user, not writable by group or others, its
    parent neither), computes the binary's SHA-256, and only if it is the expected one runs
    `exec <binary> -` (the binary reads its arguments from standard input).

A miss (no binary, or a binary whose SHA-256 is not its name's: tampered, truncated) creates the
directory if needed and prints its absolute path. The plugin then uploads the binary to a
temporary name in the directory (.<name>.<random>.tmp), and one more command checks the upload's
SHA-256, renames it into place (rename(2): atomic, so a concurrent play sees the old file or the
new, never half of one, and a running binary keeps its inode) and runs it like a warm task.

Every shell command here carries only paths, names and hashes. The markers the scripts print
start with MARK; anything else on standard output is the module's.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shlex

from ansible import constants as C

MARK = 'matrix.users-cache:'
# Default cache directory, inside Ansible's remote temporary directory.
SUBDIR = 'matrix.users'
NAME_RE = re.compile(r'^[A-Za-z0-9_.-]+$')
USER_RE = re.compile(r'^[A-Za-z0-9._][A-Za-z0-9._-]*$')

_HASHES = {}

# The settings, as the vars plugin matrix.users.binary_cache declares them for ansible-config
# (plugins/vars/binary_cache.py, whose documentation must say the same). Kept here as data:
# loading that plugin in every task's worker would parse its documentation each time.
SETTINGS = 'matrix.users.binary_cache'
OPTIONS = {
    'enabled': {
        'type': 'boolean', 'default': True,
        'ini': [{'section': 'matrix_users', 'key': 'binary_cache'}],
        'env': [{'name': 'MATRIX_USERS_BINARY_CACHE'}],
        'vars': [{'name': 'matrix_users_binary_cache'}],
    },
    'dir': {
        'type': 'string', 'default': '',
        'ini': [{'section': 'matrix_users', 'key': 'binary_cache_dir'}],
        'env': [{'name': 'MATRIX_USERS_BINARY_CACHE_DIR'}],
        'vars': [{'name': 'matrix_users_binary_cache_dir'}],
    },
}
VARIABLES = tuple(v['name'] for o in OPTIONS.values() for v in o['vars'])


def setting(option, variables):
    """(value, where it came from) of a setting: inventory variables, the environment, then
    ansible.cfg, through Ansible's own configuration manager."""
    if not C.config.has_configuration_definition('vars', SETTINGS):
        C.config.initialize_plugin_configuration_definitions('vars', SETTINGS, OPTIONS)
    return C.config.get_config_value_and_origin(option, plugin_type='vars', plugin_name=SETTINGS, variables=variables)


def sha256_of(path):
    """SHA-256 (hex) of a controller file; memoised by path, size and mtime."""
    st = os.stat(path)
    key = (path, st.st_size, st.st_mtime_ns)
    if key not in _HASHES:
        h = hashlib.sha256()
        with open(path, 'rb') as f:
            for chunk in iter(lambda: f.read(1 << 20), b''):
                h.update(chunk)
        _HASHES[key] = h.hexdigest()
    return _HASHES[key]


def cache_name(module, platform, digest):
    return '%s_%s-%s' % (module, platform, digest)


def _dq(text):
    """Double-quoted for sh: $VAR still expands (as in Ansible's remote_tmp), nothing else does."""
    return '"%s"' % text.replace('\\', '\\\\').replace('"', '\\"').replace('`', '\\`')


def shell_dir(path, run_as):
    """The cache directory as a sh word, or None if the path is not one we accept.

    `~` is the home of the user who runs the modules: `~` itself without become, `~<user>` with it
    (whatever HOME the become method leaves)."""
    # The slash after the tilde-prefix stays unquoted: a quoted character in the prefix stops the
    # shell's tilde expansion.
    if path.startswith('~'):
        user, sep, rest = path[1:].partition('/')
        if not user:
            user = run_as or ''
        elif not USER_RE.match(user):
            return None
        return '~' + user + ('/' + _dq(rest) if rest else sep)
    if path.startswith('/') or path.startswith('$'):
        return _dq(path)
    return None


# POSIX sh. $d: the directory; $p, $h, $n: platform, expected SHA-256, file name.
_CHECK_DIR = r'''
[ -d "$d" ] && [ ! -L "$d" ] || { echo "$m unsafe $p $d is not a directory (or is a symbolic link)"; exit 0; }
u=$(id -u)
set -- $(ls -ldn "$d")
case $1 in d????-??-?|d????-??-?.) ;; *) echo "$m unsafe $p $d has mode $1: only its owner may write it (and no ACL)"; exit 0;; esac
[ "$3" = "$u" ] || { echo "$m unsafe $p $d belongs to uid $3, not to uid $u who runs the modules"; exit 0; }
set -- $(ls -ldn "$d/..")
case $1 in
  d????????[tT]|d????????[tT].) ;;
  d????-??-?|d????-??-?.) [ "$3" = 0 ] || [ "$3" = "$u" ] || { echo "$m unsafe $p the parent of $d belongs to uid $3"; exit 0; } ;;
  *) echo "$m unsafe $p group or others can write the parent of $d (mode $1)"; exit 0 ;;
esac
'''

_RUN = r'''
b="$d/$n"
if [ -f "$b" ] && [ ! -L "$b" ]; then
  set -- $(sha256sum < "$b")
  if [ "$1" = "$h" ]; then
    echo "$m run $p" >&2
    %(env)s exec "$b" -
  fi
  w="mismatch $1"
else
  w=absent
fi
'''


def _platform_select(binaries, platform, machines):
    """Sets p, h and n: for a known platform directly, else from `uname -sm` on the target."""
    if platform:
        digest, name = binaries[platform]
        return 'p=%s h=%s n=%s\n' % (platform, digest, shlex.quote(name))
    cases = []
    for plat, (digest, name) in sorted(binaries.items()):
        machine = plat.split('_', 1)[1]
        spellings = sorted(k for k, v in machines.items() if v == machine)
        pattern = '|'.join(shlex.quote('Linux %s' % s) for s in spellings)
        cases.append('  %s) p=%s h=%s n=%s ;;\n' % (pattern, plat, digest, shlex.quote(name)))
    return ('s=$(uname -sm)\ncase $s in\n%s  *) echo "$m unsupported - $s"; exit 0 ;;\nesac\n' % ''.join(cases))


def run_script(dir_word, binaries, platform, machines, env_string=''):
    """The warm command: verify and run; on a miss, create and check the directory, print its path."""
    head = 'set -f; umask 077; m=%s\nd=%s\n' % (shlex.quote(MARK), dir_word)
    head += _platform_select(binaries, platform, machines)
    nosha = ('command -v sha256sum >/dev/null 2>&1 || '
             '{ echo "$m nosha $p the target has no sha256sum to check the cached binary with"; exit 0; }\n')
    make = ('[ -e "$d" ] || [ -L "$d" ] || e=$(mkdir -p "$d" 2>&1) || '
            '{ echo "$m fail $p cannot create $d: $e"; exit 0; }\n')
    miss = 'cd "$d" && { echo "$m miss $p $w"; pwd; }\n'
    return _end(head + nosha + make + _CHECK_DIR.lstrip('\n') + (_RUN % {'env': env_string}).lstrip('\n') + miss)


def install_script(dir_word, binaries, platform, machines, temp_name, copy_from=None, env_string=''):
    """The cold command: the uploaded temporary file checked and renamed into place, then run."""
    digest, name = binaries[platform]
    head = 'set -f; umask 077; m=%s\nd=%s\n' % (shlex.quote(MARK), dir_word)
    head += 'p=%s h=%s n=%s t="$d"/%s\n' % (platform, digest, shlex.quote(name), shlex.quote(temp_name))
    steps = ''
    if copy_from:
        # With become the upload belongs to the connecting user: copy it into the cache as the user
        # who runs the modules.
        steps += ('e=$(cat %s 2>&1 > "$t") || { rm -f "$t"; echo "$m fail $p cannot copy the upload into $d: $e"; exit 0; }\n'
                  % shlex.quote(copy_from))
    steps += ('[ -f "$t" ] && [ ! -L "$t" ] || { rm -f "$t"; echo "$m fail $p the upload $t is gone"; exit 0; }\n'
              'chmod 0700 "$t" || { rm -f "$t"; echo "$m fail $p cannot make $t executable"; exit 0; }\n'
              'set -- $(sha256sum < "$t")\n'
              '[ "$1" = "$h" ] || { rm -f "$t"; echo "$m fail $p the upload has SHA-256 ${1:-none}, not $h (incomplete: disk full?)"; exit 0; }\n'
              'e=$(mv -f "$t" "$d/$n" 2>&1) || { rm -f "$t"; echo "$m fail $p cannot rename the upload into place: $e"; exit 0; }\n')
    tail = (_RUN % {'env': env_string}).lstrip('\n') + 'echo "$m fail $p the binary changed right after it was installed ($w)"\n'
    return _end(head + steps + _CHECK_DIR.lstrip('\n') + tail)


def _end(script):
    """Ansible appends ` && sleep 0` to a command: it must join the last line, not start a new one."""
    return script.rstrip('\n')


def discard_script(dir_word, temp_name):
    return 'd=%s; rm -f "$d"/%s' % (dir_word, shlex.quote(temp_name))


def temp_name(name):
    return '.%s.%s.tmp' % (name, secrets.token_hex(8))


def parse_marker(stdout):
    """(status, platform, detail, directory) if stdout is a marker, else None."""
    if not stdout.startswith(MARK):
        return None
    lines = stdout.split('\n')
    words = lines[0][len(MARK):].strip().split(' ', 2)
    while len(words) < 3:
        words.append('')
    status, platform, detail = words
    directory = lines[1].strip() if len(lines) > 1 else ''
    return status, (platform if platform != '-' else ''), detail, directory


def clear_script(dir_word, keep=None, dry_run=False):
    """Removes the cache (keep=None), or every file in it but those named in keep; prints
    `MARK removed <count> -` and the directory. dry_run counts without removing (check mode)."""
    rm = ':' if dry_run else 'rm -rf'
    head = 'set -f; m=%s\nd=%s\n' % (shlex.quote(MARK), dir_word)
    head += '[ -e "$d" ] || [ -L "$d" ] || { echo "$m removed 0 -"; echo "$d"; exit 0; }\n'
    head += ('[ -d "$d" ] && [ ! -L "$d" ] && [ "$(ls -ldn "$d" | awk \'{print $3}\')" = "$(id -u)" ] || '
             '{ echo "$m unsafe - $d is not a directory of uid $(id -u), who runs the modules: not touched"; exit 0; }\n')
    if keep is None:
        return head + 'n=$(ls -A "$d" | wc -l); %s "$d" && echo "$m removed $n -" && echo "$d"' % rm
    names = ' '.join(shlex.quote(k) for k in sorted(keep))
    return head + ('set +f; n=0\nfor f in "$d"/* "$d"/.[!.]*; do\n'
                   '  [ -e "$f" ] || [ -L "$f" ] || continue\n'
                   '  k=${f##*/}; keep=\n'
                   '  for x in %s; do [ "$k" = "$x" ] && keep=1; done\n'
                   '  # a temporary upload of a play that may still run: only once older than a day\n'
                   '  case $k in .*.tmp) [ -n "$(find "$f" -prune -mmin +1440 2>/dev/null)" ] || keep=1;; esac\n'
                   '  [ -n "$keep" ] || { %s "$f" && n=$((n + 1)); }\n'
                   'done\necho "$m removed $n -"; cd "$d" && pwd') % (names, rm)
