# logmemory: the single entry point.
#
#   make                    .venv with the pinned tools, dist/logmemory, and one real example record
#   make test               pytest on the package, pytest on dist/logmemory, the binary's smoke
#                           matrix, then prove on the Perl module (when perl/t exists)
#   make stress [N=2000] [SEED=...]   a long randomized stress round (tests/test_stress.py)
#   make bench              every bench/*.py, printing its table
#   make install [PREFIX=/usr/local] [DESTDIR=]    make uninstall
#                           (the binary, logmemory(1), the Perl module and its man pages)
#   make lint               ruff, shell and Perl syntax, pins in step
#   make clean              build products and caches (make distclean: the .venv too)

PYTHON   ?= python3
VENV     := .venv
VPY      := $(VENV)/bin/python
BIN      := dist/logmemory
WORK     := .pyi-work
# PyInstaller's onefile bootloader with our per-user unpack cache (build/bootloader.sh), built from
# the pinned PyInstaller's sources. Kept beside PyInstaller's own work directory, which --clean
# empties: it is rebuilt only when its sources or the pins change.
BOOTLOADER := $(WORK)/bootloader/run
# PyInstaller's default --workpath is ./build, where our spec lives: always pass our own.
# A fixed hash seed makes the build byte-for-byte reproducible (otherwise the bytecode in
# PYZ.pyz and base_library.zip differs from build to build): the same sources and pins give the
# same dist/logmemory, in any directory.
PYINSTALLER := PYTHONHASHSEED=0 LOGMEMORY_BOOTLOADER=$(BOOTLOADER) \
               $(VPY) -m PyInstaller --noconfirm --clean --log-level WARN \
               --workpath $(WORK) --distpath dist

PREFIX   ?= /usr/local
BINDIR   ?= $(PREFIX)/bin
# Perl's own site directory with its prefix swapped for ours, so the default install is on @INC
# (/usr/local/share/perl/5.36.0 on Debian 12) and PREFIX=/opt/x gives /opt/x/share/perl/5.36.0.
PERLLIBDIR ?= $(shell perl -MConfig -e '($$d = $$Config{installsitelib}) =~ s{^\Q$$Config{siteprefixexp}\E}{$(PREFIX)}; print $$d')
MANDIR   ?= $(PREFIX)/share/man
VERSION  := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
POD2MAN  := pod2man --center "User Commands" --release "logmemory $(VERSION)"
PERL_PM  := perl/lib/LogMemory.pm
PERL_DIR := perl/lib/LogMemory
# >>> Perl module: how the installed LogMemory.pm learns where the installed binary is. <<<
# The sed script applied to LogMemory.pm on its way to $(PERLLIBDIR): the one documented at the
# top of LogMemory.pm (its $$INSTALLED_BINARY placeholder), with the path the binary is installed
# at (without DESTDIR: the path it will have when used).
PERL_BIN_SED ?= s|@LOGMEMORY_INSTALLED_BINARY[@]|$(BINDIR)/logmemory|

SOURCES  := $(wildcard logmemory/*.py) pyproject.toml build/logmemory.spec build/pyi_rth_logmemory.py

.PHONY: all venv binary example test test-package test-binary smoke perl-test stress bench \
        install uninstall lint clean distclean

all: binary example

venv: $(VENV)/.stamp
$(VENV)/.stamp: build/requirements.txt
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --disable-pip-version-check -r build/requirements.txt
	touch $@

$(BOOTLOADER): build/bootloader.sh build/bootloader/pyi_main.patch build/bootloader/pyi_user_cache.c \
               build/bootloader/pyi_user_cache.h build/requirements.txt $(VENV)/.stamp
	build/bootloader.sh $(dir $@) $(VPY)

binary: $(BIN)
$(BIN): $(VENV)/.stamp $(BOOTLOADER) $(SOURCES)
	$(PYINSTALLER) build/logmemory.spec
	@ls -l $@

# One real run, so a newcomer sees a record: a process that touches 200 MiB.
example: $(BIN)
	@rm -f $(WORK)/example.log
	$(BIN) -o $(WORK)/example.log $(PYTHON) -c 'b = b"x" * (200 << 20)'
	@echo "--- record appended to $(WORK)/example.log:"
	@cat $(WORK)/example.log

# The end-to-end tests choose the program under test from LOGMEMORY_BIN: unset, `python -m
# logmemory`; set, that binary. pytest's "no tests ran" (exit 5) fails here like any other status.
test: test-package test-binary smoke perl-test

# pytest's default /tmp/pytest-of-USER keeps the last three runs of *any* checkout: a second
# checkout's tests would delete this one's files while they run. One directory per checkout
# (in /tmp, which the tests that run as nobody can reach).
TESTTMP := /tmp/logmemory-tests-$(shell echo '$(CURDIR)' | cksum | cut -d' ' -f1)

# Long randomized stress rounds: make stress N=5000 SEED=7 (make test runs a short one).
N ?= 2000
SEED ?= $(shell date +%s)
stress: $(VENV)/.stamp
	mkdir -p $(TESTTMP)
	STRESS_N=$(N) STRESS_SEED=$(SEED) PYTHONPATH=$(CURDIR) $(VPY) -m pytest -s \
	    --basetemp=$(TESTTMP)/stress tests/test_stress.py

test-package: $(VENV)/.stamp
	mkdir -p $(TESTTMP)
	PYTHONPATH=$(CURDIR) $(VPY) -m pytest --basetemp=$(TESTTMP)/package

test-binary: $(BIN)
	mkdir -p $(TESTTMP)
	LOGMEMORY_BIN=$(CURDIR)/$(BIN) PYTHONPATH=$(CURDIR) $(VPY) -m pytest --basetemp=$(TESTTMP)/binary

smoke: $(BIN)
	build/smoke.sh $(CURDIR)/$(BIN)

perl-test: $(BIN)
	@if [ -d perl/t ]; then \
	    echo "LOGMEMORY_BIN=$(CURDIR)/$(BIN) prove -l perl/t"; \
	    LOGMEMORY_BIN=$(CURDIR)/$(BIN) prove -l perl/t; \
	else echo "perl/t not there yet: no Perl tests"; fi

bench: $(BIN)
	@failed=; for f in bench/*.py; do \
	    echo "== $$f"; PYTHONPATH=$(CURDIR) $(VPY) $$f || failed="$$failed $$f"; \
	done; \
	if [ -n "$$failed" ]; then echo "bench failed:$$failed"; exit 1; fi

install: $(BIN)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3
	install -m 755 $(BIN) $(DESTDIR)$(BINDIR)/logmemory
	$(POD2MAN) --section 1 --name LOGMEMORY docs/logmemory.pod > $(DESTDIR)$(MANDIR)/man1/logmemory.1
	chmod 644 $(DESTDIR)$(MANDIR)/man1/logmemory.1
	@# The Perl module's man pages, named as Debian names those of site modules (LogMemory::Result.3pm).
	for pm in $(PERL_PM) $(wildcard $(PERL_DIR)/*.pm); do \
	    name=$$(echo $$pm | sed -e 's|^perl/lib/||' -e 's|\.pm$$||' -e 's|/|::|g'); \
	    $(POD2MAN) --section 3pm --name "$$name" $$pm > "$(DESTDIR)$(MANDIR)/man3/$$name.3pm" || exit 1; \
	    chmod 644 "$(DESTDIR)$(MANDIR)/man3/$$name.3pm"; \
	done
	@if [ -f $(PERL_PM) ]; then \
	    set -ex; \
	    install -d $(DESTDIR)$(PERLLIBDIR); \
	    sed -e '$(PERL_BIN_SED)' $(PERL_PM) > $(DESTDIR)$(PERLLIBDIR)/LogMemory.pm; \
	    chmod 644 $(DESTDIR)$(PERLLIBDIR)/LogMemory.pm; \
	    if [ -d $(PERL_DIR) ]; then \
	        rm -rf $(DESTDIR)$(PERLLIBDIR)/LogMemory; \
	        cp -R $(PERL_DIR) $(DESTDIR)$(PERLLIBDIR)/LogMemory; \
	        chmod -R u=rwX,go=rX $(DESTDIR)$(PERLLIBDIR)/LogMemory; \
	    fi; \
	else echo "no $(PERL_PM) yet: installed the binary only"; fi

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/logmemory $(DESTDIR)$(PERLLIBDIR)/LogMemory.pm
	rm -f $(DESTDIR)$(MANDIR)/man1/logmemory.1 $(DESTDIR)$(MANDIR)/man3/LogMemory.3pm \
	      $(DESTDIR)$(MANDIR)/man3/LogMemory::*.3pm
	rm -rf $(DESTDIR)$(PERLLIBDIR)/LogMemory

lint: $(VENV)/.stamp
	$(VENV)/bin/ruff check logmemory tests bench build/pyi_rth_logmemory.py
	bash -n build/smoke.sh
	bash -n build/bootloader.sh
	bash -n .ci/run
	@if [ -d perl/lib ]; then \
	    find perl/lib -name '*.pm' -exec perl -Iperl/lib -c {} \; ; \
	    if command -v podchecker >/dev/null; then find perl/lib -name '*.pm' -exec podchecker {} \; ; fi; \
	fi
	@# The pins in pyproject.toml's optional dependencies must be the ones `make` installs.
	$(VPY) -c 'import tomllib, sys; \
	    pins = {l.strip().lower() for l in open("build/requirements.txt") if "==" in l and not l.startswith("#")}; \
	    opt = tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]; \
	    bad = [p for ps in opt.values() for p in ps if p.lower() not in pins]; \
	    sys.exit("pyproject.toml pins not in build/requirements.txt: %s" % bad if bad else 0)'

clean:
	rm -rf dist $(WORK) .pytest_cache .ruff_cache
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
