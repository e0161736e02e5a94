/* broken.c - deliberately broken strategy plugins, one per loader refusal.
 * Built once per BROKEN_* definition (CMakeLists.txt); each differs from a
 * valid plugin in exactly one way. */
#include "clpt_plugin.h"

#include <stdlib.h>

/* some variants leave these unreferenced */
#define UNUSED __attribute__((unused))

UNUSED static int create(const clpt_host *h, void **self)
{
    (void)h;
    *self = NULL;
    return 0;
}

UNUSED static void destroy(const clpt_host *h, void *self)
{
    (void)h;
    (void)self;
}

UNUSED static const char *const ab[] = {"a", "b", NULL};

UNUSED static const clpt_option_desc options[] = {
#if defined(BROKEN_DEFAULT)
    {.name = "ratio", .type = CLPT_OPT_FLOAT, .def = "half", .help = "a default that is not a number"},
#elif defined(BROKEN_BADOPT)
    {.name = "Bad Name", .type = CLPT_OPT_ENUM, .def = "a", .choices = ab, .help = "an invalid option name"},
#else
    {.name = "mode", .type = CLPT_OPT_ENUM, .def = "a", .choices = ab, .help = "a valid option"},
#endif
};

#if defined(BROKEN_NOSYM)
/* the descriptor under another name: the loader must not guess */
CLPT_EXPORT const int clpt_strategy_descriptr = 1;
#else
CLPT_EXPORT const clpt_strategy_desc clpt_strategy_descriptor = {
#if defined(BROKEN_SIZE)
    .struct_size = 16,
#else
    .struct_size = sizeof(clpt_strategy_desc),
#endif
#if defined(BROKEN_MAJOR)
    .abi_major = CLPT_PLUGIN_ABI_MAJOR + 1,
#else
    .abi_major = CLPT_PLUGIN_ABI_MAJOR,
#endif
#if defined(BROKEN_MINOR)
    .abi_minor = CLPT_PLUGIN_ABI_MINOR + 1,
#else
    .abi_minor = CLPT_PLUGIN_ABI_MINOR,
#endif
    .option_size = sizeof(clpt_option_desc),
#if defined(BROKEN_NAME)
    .name = "Broken Name",
#elif defined(BROKEN_DUP)
    .name = "testgood",
#else
    .name = "broken",
#endif
    .version = "0.0.1",
    .summary = "a deliberately broken test plugin",
    .options = options,
    .n_options = 1,
    .create = create,
#if !defined(BROKEN_PAIR)
    .destroy = destroy,
#endif
};
#endif
