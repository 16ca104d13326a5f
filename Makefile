# unseal: plain Makefile.  `make` builds build/unseal and build/libunseal.so.
# Sources are picked up by wildcard, so adding a .c file to a module needs no
# edit here.

CC      ?= cc
CXX     ?= c++
PY      := /usr/bin/python3
B       := build
CSTD    := -std=c11 -D_GNU_SOURCE
WARN    := -Wall -Wextra -Werror
OPT     ?= -O2 -g
CFLAGS  += $(CSTD) $(WARN) $(OPT) -fPIC -pthread -fvisibility=hidden -I. -MMD -MP
LDLIBS_CORE := -lcrypto -lcjson -lIPSec_MB -lpthread
LDLIBS_KBS  := -lcurl

CRYPTO_SRC  := $(wildcard crypto/*.c)
ATTEST_SRC  := $(wildcard attest/*.c)
PRELOAD_SRC := $(wildcard preload/*.c)
CLI_SRC     := $(wildcard cli/*.c)
UNIT_SRC    := $(wildcard tests/unit/test_*.c)
CONS_C      := $(wildcard tests/consumers/*.c)
CONS_CXX    := $(wildcard tests/consumers/*.cc)
BENCH_SRC   := $(wildcard bench/*.c)

obj = $(patsubst %.c,$(B)/obj/%.o,$(1))
CRYPTO_OBJ  := $(call obj,$(CRYPTO_SRC))
ATTEST_OBJ  := $(call obj,$(ATTEST_SRC))
PRELOAD_OBJ := $(call obj,$(PRELOAD_SRC))
CLI_OBJ     := $(call obj,$(CLI_SRC))
UNIT_BIN    := $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRC))
CONS_BIN    := $(patsubst tests/consumers/%.c,$(B)/consumers/%,$(CONS_C)) \
               $(patsubst tests/consumers/%.cc,$(B)/consumers/%,$(CONS_CXX))
BENCH_BIN   := $(patsubst bench/%.c,$(B)/bench/%,$(BENCH_SRC))

comma := ,
PRELOAD_MAP := $(wildcard preload/libunseal.map)
KBS_MAP     := $(wildcard attest/kbs.map)

.PHONY: all deps test check-tests demo bench clean format
all: $(B)/unseal $(B)/libunseal.so $(B)/libunseal-kbs.so

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(B)/libgcfs.a: $(CRYPTO_OBJ)
	@mkdir -p $(B)
	rm -f $@ && ar rcs $@ $^

$(B)/unseal: $(CLI_OBJ) $(ATTEST_OBJ) $(B)/libgcfs.a
	$(CC) $(CFLAGS) -o $@ $(CLI_OBJ) $(ATTEST_OBJ) $(B)/libgcfs.a $(LDLIBS_KBS) $(LDLIBS_CORE) -ldl

# The shim: interposers + crypto core; libcurl stays out (see libunseal-kbs.so).
$(B)/libunseal.so: $(PRELOAD_OBJ) $(B)/libgcfs.a $(PRELOAD_MAP)
	$(CC) $(CFLAGS) -shared -Wl,-Bsymbolic -Wl,-z,now -Wl,-z,nodelete \
	  $(if $(PRELOAD_MAP),-Wl$(comma)--version-script=$(PRELOAD_MAP)) \
	  -o $@ $(PRELOAD_OBJ) $(B)/libgcfs.a $(LDLIBS_CORE) -ldl

# KBS client, dlopen()ed by the shim only when a KBS key source is configured.
$(B)/libunseal-kbs.so: $(ATTEST_OBJ) $(B)/libgcfs.a $(KBS_MAP)
	$(CC) $(CFLAGS) -shared -Wl,-Bsymbolic \
	  $(if $(KBS_MAP),-Wl$(comma)--version-script=$(KBS_MAP)) \
	  -o $@ $(ATTEST_OBJ) $(B)/libgcfs.a $(LDLIBS_KBS) $(LDLIBS_CORE)

# Unit tests: test_kbs_* link the KBS client too; the others only the core.
$(B)/tests/test_kbs_%: tests/unit/test_kbs_%.c $(ATTEST_OBJ) $(B)/libgcfs.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(ATTEST_OBJ) $(B)/libgcfs.a -lcmocka $(LDLIBS_KBS) $(LDLIBS_CORE) -ldl

$(B)/tests/%: tests/unit/%.c $(B)/libgcfs.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(B)/libgcfs.a -lcmocka $(LDLIBS_CORE)

$(B)/consumers/%: tests/consumers/%.c tests/consumers/consumer.h
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -D_GNU_SOURCE -O1 -g -Wall -Wextra -Werror -pthread -o $@ $< -ldl

$(B)/consumers/%: tests/consumers/%.cc
	@mkdir -p $(dir $@)
	$(CXX) -std=gnu++17 -O1 -g -Wall -Wextra -Werror -pthread -o $@ $<

$(B)/bench/%: bench/%.c $(B)/libgcfs.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(B)/libgcfs.a $(LDLIBS_CORE)

deps:
	@sh tests/tools/deps.sh

check-tests: all $(UNIT_BIN) $(CONS_BIN) $(BENCH_BIN)

test: deps
	@$(MAKE) --no-print-directory check-tests
	@sh tests/tools/run_tests.sh

demo: deps
	@$(MAKE) --no-print-directory all
	@bash tests/tools/demo.sh

bench: deps
	@$(MAKE) --no-print-directory all $(BENCH_BIN)
	@bash bench/run.sh

format:
	clang-format -i $(CRYPTO_SRC) $(ATTEST_SRC) $(PRELOAD_SRC) $(CLI_SRC) crypto/*.h attest/*.h preload/*.h cli/*.h

clean:
	rm -rf $(B)

-include $(shell find $(B) -name '*.d' 2>/dev/null)
