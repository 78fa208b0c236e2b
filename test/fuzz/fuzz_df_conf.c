/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the config loader with the input as a JSON config file for a table with every
 * type, and check that the effective config printed for --check-config loads back to
 * the same config. The first line of the input is also tried as a size, rate and
 * duration, which must survive a format/parse round trip.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "df/df_conf.h"
#include "df/df_units.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_config {
    bool flag;
    int64_t count;
    int64_t size;
    int64_t rate;
    int64_t interval;
    char *name;
    int mode;
    struct df_conf_list items;
    struct df_conf_addr addr;
};

static const char *const fuzz_modes[] = {"a", "b", "c", NULL};
static const char *const fuzz_items[] = {"x", "y", NULL};

#define F(field) offsetof(struct fuzz_config, field)

static const struct df_conf_entry fuzz_entries[] = {
        {.key = "flag", .type = DF_CONF_BOOL, .offset = F(flag)},
        {.key = "a.count",
         .type = DF_CONF_INT,
         .offset = F(count),
         .def = "3",
         .min = -5,
         .max = 1000},
        {.key = "a.size", .type = DF_CONF_SIZE, .offset = F(size), .def = "4MiB"},
        {.key = "a.b.rate",
         .type = DF_CONF_RATE,
         .offset = F(rate),
         .def = "100MiB/s",
         .min = 1,
         .max = INT64_MAX},
        {.key = "a.b.interval", .type = DF_CONF_DURATION, .offset = F(interval), .def = "30s"},
        {.key = "name", .type = DF_CONF_STRING, .offset = F(name), .def = "n"},
        {.key = "mode", .type = DF_CONF_ENUM, .offset = F(mode), .choices = fuzz_modes},
        {.key = "items", .type = DF_CONF_LIST, .offset = F(items), .def_list = fuzz_items},
        {.key = "c.addr", .type = DF_CONF_ADDR, .offset = F(addr), .def = "127.0.0.1:1"},
};

static const struct df_conf_spec fuzz_spec = {
        .cmd = "fuzz",
        .entries = fuzz_entries,
        .n_entries = sizeof(fuzz_entries) / sizeof(fuzz_entries[0]),
        .size = sizeof(struct fuzz_config),
};

typedef int parse_fn(const char *s, int64_t *out);
typedef char *format_fn(int64_t v, char *buf, size_t len);

static void
fuzz_units(const uint8_t *data, size_t size, parse_fn *parse, format_fn *format)
{
    char text[64], buf[DF_UNITS_FMT_MAX];
    size_t n = 0;
    int64_t v, w;

    while (n < size && n < sizeof(text) - 1 && data[n] != '\n') {
        text[n] = (char)data[n];
        n++;
    }
    text[n] = '\0';
    if (parse(text, &v) != 0)
        return;
    if (parse(format(v, buf, sizeof(buf)), &w) != 0 || v != w)
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_config cfg = {.flag = false}, again = {.flag = false};
    struct df_error err;
    char *json = NULL, *json2 = NULL;

    fuzz_units(data, size, df_units_size_parse, df_units_size_format);
    fuzz_units(data, size, df_units_rate_parse, df_units_rate_format);
    fuzz_units(data, size, df_units_duration_parse, df_units_duration_format);
    if (df_conf_load_json(&fuzz_spec, &cfg, (const char *)data, size, "fuzz", &err) != 0)
        return 0;
    json = df_conf_to_json(&fuzz_spec, &cfg);
    if (json == NULL)
        abort();
    if (df_conf_load_json(&fuzz_spec, &again, json, strlen(json), "printed", &err) != 0)
        abort();
    json2 = df_conf_to_json(&fuzz_spec, &again);
    if (json2 == NULL || strcmp(json, json2) != 0)
        abort();
    free(json);
    free(json2);
    df_conf_reset(&fuzz_spec, &cfg);
    df_conf_reset(&fuzz_spec, &again);
    return 0;
}
