#ifndef COMMERCE_CHIREDIS_SHIM_H
#define COMMERCE_CHIREDIS_SHIM_H

#include <hiredis/hiredis.h>
#include <hiredis/read.h>

/* read.h's error accessor is a macro, which Swift cannot call. */
static inline const char *chiredis_reader_error(redisReader *reader) {
    return reader->errstr;
}

#endif
