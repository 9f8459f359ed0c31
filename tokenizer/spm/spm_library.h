// spm_library: finds and loads libgrec_spm.so (the SentencePiece module, see spm_api.h) once per
// process into a link-map namespace of its own (dlmopen LM_ID_NEWLM), so its private protobuf
// never meets LibTorch's. (RTLD_DEEPBIND is not enough: it binds the module's libstdc++ users to
// an uninitialised std::cerr when the executable holds a copy relocation of it.) Only plain C
// crosses the boundary; memory is always freed on the side that allocated it. Search order: $GREC_SPM_LIBRARY, the folder of the running executable, its ../lib,
// then the build tree the binary came from.
#pragma once

#include <string>

#include "tokenizer/spm/spm_api.h"

namespace grec::tok {

// The module's function table. UserError naming every place searched when it cannot be loaded.
const GrecSpmApi& spm_api();

// True when the module can be loaded (tests skip SentencePiece cases otherwise).
bool spm_available();

}  // namespace grec::tok
