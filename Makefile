# mailresponder - see README.md
#   make            build $(BUILD)/mailresponder
#   make demo       install what is missing, build, run the demo drain
#   make check      install test dependencies, build, run every test
#                   (also under AddressSanitizer + UBSan)
#   make bench      throughput and latency figures
#   make install PREFIX=/usr/local DESTDIR=

BUILD ?= build
PREFIX ?= /usr/local
DESTDIR ?=
FORTIFY ?= -D_FORTIFY_SOURCE=2
CFLAGS ?= -g -O2
PKGS := libetpan json-c libcurl openssl libmariadb sqlite3 zlib

PKG_CFLAGS := $(patsubst -I%,-isystem %,$(filter-out \
	-I/usr/include/x86_64-linux-gnu,$(shell pkg-config --cflags $(PKGS) 2>/dev/null)))
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

override CFLAGS := -std=c11 -Wall -Wextra -Wpedantic -Werror -Wshadow \
	-Wformat=2 -Wstrict-prototypes -Wmissing-prototypes -Wvla -pthread \
	-fPIE -fstack-protector-strong -MMD -MP $(CFLAGS)
override CPPFLAGS := -D_GNU_SOURCE $(FORTIFY) -Ilib -Imaildir $(PKG_CFLAGS) \
	-DMR_SHAREDIR='"$(PREFIX)/share/mailresponder"' \
	$(CPPFLAGS)
override LDFLAGS := -pthread -pie -Wl,-z,relro,-z,now $(LDFLAGS)
LDLIBS := $(PKG_LIBS)

LIB_SRC := $(sort $(wildcard lib/*.c maildir/*.c))
CMD_SRC := $(sort $(wildcard cmd/*.c))
UNIT_SRC := $(sort $(wildcard test/unit/test_*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
CMD_OBJ := $(CMD_SRC:%.c=$(BUILD)/%.o)
UNIT_BIN := $(UNIT_SRC:%.c=$(BUILD)/%)
BIN := $(BUILD)/mailresponder
TOOLS := $(BUILD)/test/tools/dkimsign
FUZZ_SRC := $(sort $(wildcard test/fuzz/fuzz_*.c))
FUZZ_NAMES := $(FUZZ_SRC:test/fuzz/fuzz_%.c=%)
REPLAY_BIN := $(FUZZ_NAMES:%=$(BUILD)/test/fuzz/replay_%)
FUZZ_SECONDS ?= 60
FUZZ_BUILD := build-fuzz
FUZZ_FLAGS := BUILD=$(FUZZ_BUILD) CC=clang FORTIFY= \
	CFLAGS='-O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -Wno-error' \
	LDFLAGS='-fsanitize=address,undefined'

ASAN_FLAGS := BUILD=build-asan FORTIFY= \
	CFLAGS='-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all' \
	LDFLAGS='-fsanitize=address,undefined'

.PHONY: all tests fuzz fuzz-bins deps test-deps demo check check-asan check-run bench \
	install lint clean print-cflags print-libs
all: $(BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/libmr.a: $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(BIN): $(CMD_OBJ) $(BUILD)/libmr.a
	$(CC) $(LDFLAGS) -o $@ $(CMD_OBJ) $(BUILD)/libmr.a $(LDLIBS)

$(BUILD)/test/unit/%: $(BUILD)/test/unit/%.o $(BUILD)/libmr.a
	$(CC) $(LDFLAGS) -o $@ $< $(BUILD)/libmr.a $(LDLIBS)

$(BUILD)/test/tools/%: $(BUILD)/test/tools/%.o $(BUILD)/libmr.a
	$(CC) $(LDFLAGS) -o $@ $< $(BUILD)/libmr.a $(LDLIBS)

# fuzz targets: replay_NAME (plain main, any compiler) for make check;
# fuzz_NAME (libFuzzer, clang) for make fuzz
$(BUILD)/test/fuzz/replay_%: $(BUILD)/test/fuzz/fuzz_%.o \
		$(BUILD)/test/fuzz/replay.o $(BUILD)/libmr.a
	$(CC) $(LDFLAGS) -o $@ $< $(BUILD)/test/fuzz/replay.o \
		$(BUILD)/libmr.a $(LDLIBS)

$(BUILD)/test/fuzz/fuzz_%: $(BUILD)/test/fuzz/fuzz_%.o $(BUILD)/libmr.a
	$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $< $(BUILD)/libmr.a \
		$(filter-out -specs=%,$(LDLIBS))

tests: $(BIN) $(UNIT_BIN) $(TOOLS) $(REPLAY_BIN)

fuzz-bins: $(FUZZ_NAMES:%=$(BUILD)/test/fuzz/fuzz_%)

# make fuzz FUZZ_SECONDS=N: each target in turn, at low priority, on a
# copy of its seeds; new crash inputs land in $(FUZZ_BUILD)/crashes/NAME
# (minimise them and commit them under test/fuzz/crashes/NAME)
fuzz:
	$(MAKE) $(FUZZ_FLAGS) fuzz-bins
	./test/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_NAMES)

deps:
	./scripts/deps.sh

test-deps:
	./scripts/deps.sh --test

demo: deps
	$(MAKE) all
	./scripts/demo.sh $(BIN)

check: test-deps
	$(MAKE) lint
	$(MAKE) tests
	$(MAKE) $(ASAN_FLAGS) tests
	./test/run.sh build build-asan

check-asan: test-deps
	$(MAKE) $(ASAN_FLAGS) tests
	./test/run.sh build-asan

# run the suite without installing anything (after a first make check)
check-run:
	$(MAKE) tests
	./test/run.sh build

bench: test-deps
	$(MAKE) tests
	./test/bench.sh $(BUILD)

install: $(BIN)
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/share/man/man8 \
		$(DESTDIR)$(PREFIX)/share/man/man5 \
		$(DESTDIR)$(PREFIX)/share/man/man7 \
		$(DESTDIR)$(PREFIX)/share/mailresponder
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/sbin/mailresponder
	install -m 644 $(wildcard man/*.8) $(DESTDIR)$(PREFIX)/share/man/man8/
	install -m 644 $(wildcard man/*.5) $(DESTDIR)$(PREFIX)/share/man/man5/
	install -m 644 $(wildcard man/*.7) $(DESTDIR)$(PREFIX)/share/man/man7/
	install -m 644 config/settings.sample.json \
		config/responses.sample.json cron/mailresponder.cron \
		config/mailresponder.service config/postfix/main.cf.sample \
		config/postfix/master.cf.sample config/postfix/virtual.sample \
		config/mailresponder.logrotate \
		$(DESTDIR)$(PREFIX)/share/mailresponder/

# make lint: layout (.clang-format) of every C file, and cppcheck
LINT_SRC := $(LIB_SRC) $(CMD_SRC) $(UNIT_SRC) $(FUZZ_SRC) \
	$(wildcard lib/*.h maildir/*.h test/unit/*.h test/fuzz/*.h \
	test/fuzz/replay.c test/tools/*.c)

lint:
	clang-format --dry-run --Werror $(LINT_SRC)
	cppcheck --std=c11 --enable=warning,portability,performance \
		--inline-suppr --error-exitcode=1 -q -D_GNU_SOURCE -Ilib \
		-Imaildir lib maildir cmd

# for compiling a single test by hand: cc $$(make -s print-cflags) ...
print-cflags:
	@echo $(CPPFLAGS) $(CFLAGS) $(LDFLAGS)
print-libs:
	@echo $(LDLIBS)

clean:
	rm -rf build build-asan $(FUZZ_BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
.SECONDARY:
