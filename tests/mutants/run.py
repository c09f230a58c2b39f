#!/usr/bin/env python3
"""Mutation testing: does the suite catch small deliberate bugs?

Each entry of tests/mutants/catalogue names a file, a code snippet that
must occur in it exactly once, and its replacement: a boundary moved, a
check dropped, a flush skipped, a list reversed, a send doubled, a timer
stretched.  For each, a scratch copy of the tree gets that one change,
is built, and the unit and integration suites (and the chaos test for
entries marked "chaos") run against it until one fails: the mutant is
killed.  A mutant that passes everything survived: either a test is
missing, or the mutant is equivalent (the note in the catalogue says
why), and then the catalogue should not carry it.

A snippet that is no longer in its file (the code moved) is reported as
"does not apply", not an error: update the entry.

usage: tests/mutants/run.py [-k PATTERN] [-j JOBS] [--keep] [--check]
--check only says which entries apply to the tree as it is.
Exit status 1 if any mutant survived or did not apply.
"""
import argparse
import fnmatch
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))


def parse(path):
    """The catalogue: blocks starting '@ id', with file/-/+/note/chaos."""
    muts, cur = [], None
    with open(path) as f:
        for n, raw in enumerate(f, 1):
            line = raw.rstrip('\n')
            if line.startswith('@ '):
                cur = {'id': line[2:].strip(), 'line': n, 'file': None,
                       'old': [], 'new': [], 'note': '', 'chaos': False,
                       'first': []}
                muts.append(cur)
            elif cur is None or line.startswith('#') or not line.strip():
                continue
            elif line.startswith('file '):
                cur['file'] = line[5:].strip()
            elif line.startswith('-'):
                cur['old'].append(line[1:])
            elif line.startswith('+'):
                cur['new'].append(line[1:])
            elif line.startswith('note '):
                cur['note'] = line[5:].strip()
            elif line.startswith('first '):
                cur['first'] = line[6:].split()
            elif line.strip() == 'chaos':
                cur['chaos'] = True
            else:
                sys.exit('%s:%d: cannot parse: %s' % (path, n, line))
    for m in muts:
        if m['file'] is None or not m['old']:
            sys.exit('%s:%d: mutant %s needs a file and a - snippet' %
                     (path, m['line'], m['id']))
    return muts


def copy_tree(dst):
    """The sources only (no build output), as the working tree has them."""
    files = subprocess.run(['git', 'ls-files', '-co', '--exclude-standard'],
                           cwd=TOP, capture_output=True, text=True,
                           check=True).stdout.split('\n')
    for f in files:
        if not f or not os.path.isfile(os.path.join(TOP, f)):
            continue
        d = os.path.join(dst, os.path.dirname(f))
        os.makedirs(d, exist_ok=True)
        shutil.copy2(os.path.join(TOP, f), os.path.join(dst, f))


def run(cmd, cwd, env, timeout):
    """(status, output); status 'timeout' when it ran too long."""
    try:
        p = subprocess.run(cmd, cwd=cwd, env=env, timeout=timeout,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, errors='replace')
        return p.returncode, p.stdout
    except subprocess.TimeoutExpired as e:
        out = e.stdout or ''
        if isinstance(out, bytes):
            out = out.decode(errors='replace')
        return 'timeout', out


def failed(status, out):
    """A cmocka binary failed: nonzero, or a failed or skipped test."""
    if status != 0:
        return True
    return '[  FAILED  ]' in out or '[  SKIPPED ]' in out


def suites(work, m):
    """The binaries to run, the entry's 'first' ones first."""
    unit = sorted(glob.glob(os.path.join(work, 'build/tests/test_*')))
    integ = sorted(glob.glob(os.path.join(work, 'build/tests/it_*')))
    unit = [u for u in unit if os.access(u, os.X_OK) and
            not u.endswith('.o')]
    integ = [i for i in integ if os.access(i, os.X_OK)]
    order = []
    for name in m['first']:
        order += [b for b in unit + integ if os.path.basename(b) == name]
    order += [b for b in unit + integ if b not in order]
    if m['chaos']:
        order.append(os.path.join(work, 'build/tests/chaos_test'))
    return order


def try_mutant(work, orig, m, jobs, env):
    """'killed by X', 'SURVIVED', 'does not apply ...', 'build failed'."""
    path = os.path.join(work, m['file'])
    if not os.path.exists(path):
        return 'does not apply (no %s)' % m['file']
    text = orig[m['file']]
    old = '\n'.join(m['old'])
    new = '\n'.join(m['new'])
    n = text.count(old)
    if n != 1:
        return 'does not apply (snippet found %d times in %s)' % (
            n, m['file'])
    with open(path, 'w') as f:
        f.write(text.replace(old, new))
    try:
        st, out = run(['make', '-j%d' % jobs, 'all', 'unit-bins',
                       'integration-bins'] +
                      (['chaos-bin'] if m['chaos'] else []),
                      work, env, 900)
        if st != 0:
            tail = '\n'.join(out.splitlines()[-5:])
            return 'killed (does not build)\n' + tail
        pending = suites(work, m)
        running = []
        verdict = None
        while (pending or running) and verdict is None:
            while pending and len(running) < jobs:
                b = pending.pop(0)
                p = subprocess.Popen([b], cwd=work, env=env,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT,
                                     start_new_session=True)
                running.append((b, p, time.time()))
            time.sleep(0.1)
            for r in list(running):
                b, p, t0 = r
                if p.poll() is None:
                    if time.time() - t0 > 600:
                        verdict = 'killed by %s (timeout)' % \
                            os.path.basename(b)
                    continue
                out = p.stdout.read().decode(errors='replace')
                running.remove(r)
                if failed(p.returncode, out):
                    verdict = 'killed by %s' % os.path.basename(b)
                    break
        for b, p, t0 in running:
            try:
                os.killpg(p.pid, 9)
            except ProcessLookupError:
                pass
            p.wait()
        return verdict or 'SURVIVED'
    finally:
        with open(path, 'w') as f:
            f.write(text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('-k', default='*', help='run only ids matching')
    ap.add_argument('-j', type=int, default=2, help='parallel test bins')
    ap.add_argument('--keep', action='store_true', help='keep scratch')
    ap.add_argument('--catalogue', default=os.path.join(HERE, 'catalogue'))
    ap.add_argument('--check', action='store_true',
                    help='only check that every snippet applies')
    a = ap.parse_args()
    muts = [m for m in parse(a.catalogue) if fnmatch.fnmatch(m['id'], a.k)]
    if a.check:
        bad = 0
        for m in muts:
            p = os.path.join(TOP, m['file'])
            n = open(p).read().count('\n'.join(m['old'])) \
                if os.path.exists(p) else 0
            if n != 1:
                bad += 1
                print('%s: does not apply (snippet found %d times in %s, '
                      'catalogue line %d)' % (m['id'], n, m['file'],
                                              m['line']))
        print('mutants: %d of %d apply' % (len(muts) - bad, len(muts)))
        sys.exit(1 if bad else 0)
    work = tempfile.mkdtemp(prefix='activity-mutants.')
    env = dict(os.environ)
    env['ACTIVITY_BIN'] = os.path.join(work, 'bin')
    env['IT_FSYNC_SHIM'] = os.path.join(work, 'build/tests/fsync_shim.so')
    env.pop('MAKEFLAGS', None)
    env.pop('MAKELEVEL', None)
    print('mutants: %d in the catalogue, scratch copy %s' % (len(muts), work))
    sys.stdout.flush()
    copy_tree(work)
    orig = {}
    for m in muts:
        p = os.path.join(work, m['file'])
        if m['file'] not in orig and os.path.exists(p):
            with open(p) as f:
                orig[m['file']] = f.read()
    st, out = run(['make', '-j%d' % a.j, 'all', 'unit-bins',
                   'integration-bins', 'chaos-bin'], work, env, 1800)
    if st != 0:
        print(out)
        sys.exit('mutants: the unmutated tree does not build')
    t_all = time.time()
    results = []
    for i, m in enumerate(muts, 1):
        t0 = time.time()
        v = try_mutant(work, orig, m, a.j, env)
        results.append((m, v))
        print('[%2d/%d] %-40s %s (%.0f s)' % (i, len(muts), m['id'],
                                             v.split('\n')[0],
                                             time.time() - t0))
        sys.stdout.flush()
    # Rebuild the pristine tree so a kept scratch copy is not a mutant.
    run(['make', '-j%d' % a.j, 'all'], work, env, 900)
    surv = [m for m, v in results if v == 'SURVIVED']
    bad = [(m, v) for m, v in results if v.startswith('does not apply')]
    killed = len(results) - len(surv) - len(bad)
    print('mutants: %d killed, %d survived, %d did not apply, in %.0f s' %
          (killed, len(surv), len(bad), time.time() - t_all))
    for m in surv:
        print('  SURVIVED %s (%s): %s' % (m['id'], m['file'], m['note']))
    for m, v in bad:
        print('  %s: %s (catalogue line %d)' % (m['id'], v, m['line']))
    if not a.keep:
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(1 if surv or bad else 0)


if __name__ == '__main__':
    main()
