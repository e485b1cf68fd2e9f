"""Files in the working directory: os.path, os.listdir, os.environ.get, pathlib, glob, shutil."""

import os
import shutil
from pathlib import Path

root = Path("project")
(root / "src" / "pkg").mkdir(parents=True, exist_ok=True)
(root / "docs").mkdir(exist_ok=True)
for name, text in {"src/pkg/core.py": "x = 1\n", "src/app.py": "print('hi')\n", "docs/readme.md": "# Hi\n"}.items():
    (root / name).write_text(text, encoding="utf-8")

print(sorted(os.listdir(root)))
print(sorted(p.relative_to(root).as_posix() for p in root.rglob("*.py")))
print(os.path.join("project", "src"), os.path.splitext("archive.tar.gz"), os.path.basename("/a/b/c.txt"))
print(os.path.exists("project/docs/readme.md"), os.path.isdir("project/docs"), os.path.getsize("project/src/app.py"))

for dirpath, dirnames, filenames in os.walk(root):
    dirnames.sort()
    print(dirpath, sorted(filenames))

home = os.environ.get("HOME", "(unset)")
mode = os.environ.get("APP_MODE", "development")
print("mode:", mode, "| home set:", home != "(unset)", "| cwd is absolute:", os.path.isabs(os.getcwd()))

backup = Path("backup")
shutil.copytree(root, backup, dirs_exist_ok=True)
(backup / "docs" / "readme.md").rename(backup / "docs" / "README.md")
print(sorted(p.name for p in (backup / "docs").iterdir()))
path = Path("project/src/pkg/core.py")
print(path.suffix, path.stem, path.parent.name, path.with_suffix(".txt").name, path.resolve().is_absolute())
shutil.rmtree(backup)
print(backup.exists())
