import Foundation

// Usage: EmbedLua OUTPUT.swift SCRIPT.lua...
// Writes an extension of `LuaScripts` with one `RedisScript` per file: `coupon-issue.lua` becomes
// `LuaScripts.couponIssue`, named "coupon-issue" in logs and errors.

func identifier(for fileName: String) -> String {
    let words = fileName.split(whereSeparator: { !$0.isLetter && !$0.isNumber })
    return words.enumerated().map { index, word in
        index == 0 ? word.lowercased() : word.prefix(1).uppercased() + word.dropFirst().lowercased()
    }.joined()
}

/// A raw string literal that holds `text` verbatim: more `#`s than any `"#...` run inside it.
func rawLiteral(_ text: String) -> String {
    var hashes = "#"
    while text.contains("\"" + hashes) || text.contains(hashes + "\"") { hashes += "#" }
    return "\(hashes)\"\"\"\n\(text)\n\"\"\"\(hashes)"
}

let arguments = CommandLine.arguments.dropFirst()
guard let output = arguments.first else {
    FileHandle.standardError.write(Data("usage: EmbedLua OUTPUT.swift SCRIPT.lua...\n".utf8))
    exit(2)
}
var generated = "// Generated from scripts/lua by the EmbedLuaScripts plugin. Do not edit.\nimport RedisClient\n\nextension LuaScripts {\n"
for path in arguments.dropFirst() {
    let url = URL(fileURLWithPath: path)
    let name = url.deletingPathExtension().lastPathComponent
    var source = try String(contentsOf: url, encoding: .utf8)
    while source.hasSuffix("\n") { source.removeLast() }
    generated += "    /// `scripts/lua/\(url.lastPathComponent)`\n"
    generated += "    public static let \(identifier(for: name)) = RedisScript(name: \"\(name)\", source: \(rawLiteral(source)))\n\n"
}
generated += "}\n"
try generated.write(toFile: output, atomically: true, encoding: .utf8)
