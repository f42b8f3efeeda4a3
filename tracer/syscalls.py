"""The syscalls fsrace records, and how each one is classified.

One table serves the recorder (which passes the names to strace's
``--seccomp-bpf -e trace=``) and the importer (which decides how to read the
arguments of each name).  Names that do not exist on every architecture are
given to strace with a ``?`` prefix so that strace skips them quietly.
"""

from __future__ import annotations

#: Process life cycle: creation, program change, end, and reaping.
PROCESS = ("fork", "vfork", "clone", "clone3", "execve", "execveat",
           "exit", "exit_group", "wait4", "waitid")

#: Calls that create, copy or drop file descriptors, or lock through them.
FD_TABLE = ("open", "openat", "openat2", "creat", "close", "close_range",
            "dup", "dup2", "dup3", "fcntl", "flock")

#: Calls that change or report the working directory.
CWD = ("chdir", "fchdir", "getcwd")

#: Calls that change the namespace: create, remove, rename or link names.
NAMESPACE = ("mkdir", "mkdirat", "rmdir", "unlink", "unlinkat", "rename",
             "renameat", "renameat2", "link", "linkat", "symlink",
             "symlinkat", "mknod", "mknodat")

#: Calls that look at a path or its metadata without changing it.
LOOKUP = ("readlink", "readlinkat", "stat", "lstat", "fstat", "newfstatat",
          "statx", "access", "faccessat", "faccessat2", "getdents64",
          "getdents")

#: Calls that change a file's content length or metadata.
METADATA = ("truncate", "ftruncate", "utimensat", "chmod", "fchmod",
            "fchmodat", "fchmodat2", "chown", "lchown", "fchown", "fchownat")

#: Every syscall the recorder asks strace for.
TRACED = PROCESS + FD_TABLE + CWD + NAMESPACE + LOOKUP + METADATA

#: Names that are missing on some architectures (strace rejects unknown
#: names unless they carry a ``?`` prefix).
_OPTIONAL = {"fork", "vfork", "open", "creat", "stat", "lstat", "newfstatat",
             "access", "faccessat2", "rename", "renameat", "link", "unlink",
             "mkdir", "rmdir", "symlink", "readlink", "chmod", "chown",
             "lchown", "getdents", "mknod", "dup2", "fchmodat2", "openat2",
             "clone3", "close_range", "execveat"}


def strace_trace_expression() -> str:
    """Return the ``-e trace=`` value that selects every syscall in TRACED."""
    return "trace=" + ",".join(("?" + n) if n in _OPTIONAL else n for n in TRACED)
