// Prose laid out for a terminal: the explanations and warnings printed
// under flopctl's tables (the tables themselves fit through
// RenderColumnsWithin, result_format.h).
#pragma once

#include <cstddef>
#include <string>

namespace flopd {

// `text` with every line longer than `width` columns (0: none is) broken at
// spaces; a continuation keeps the line's indentation, plus two spaces when
// it had any. Columns count UTF-8 characters, not bytes. A single word
// longer than `width` stays whole on its own line.
std::string WrapLongLines(const std::string& text, size_t width);

}  // namespace flopd
