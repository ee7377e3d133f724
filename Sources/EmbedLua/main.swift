import Foundation

// Usage: EmbedLua OUTPUT.swift SCRIPT.lua...
// Writes an extension of `LuaScripts` with one `RedisScript` per file: `coupon-issue.lua` becomes
// `LuaScripts.couponIssue`, named "coupon-issue" in logs and errors.
//
// Two directives, each on a line of its own, let one script run others without a second copy:
//   --! include OTHER.lua as NAME   becomes `local NAME = function(KEYS, ARGV) <OTHER.lua> end`
//                                   (the other script's KEYS and ARGV are what NAME is called with);
//   --! keys span slots             the script's keys need not share a hash slot: it is for one
//                                   Redis server only (a cluster refuses it).

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
    var keysShareSlot = true
    var lines: [String] = []
    for line in source.split(separator: "\n", omittingEmptySubsequences: false) {
        let words = line.split(separator: " ")
        if words.count == 5, words[0] == "--!", words[1] == "include", words[3] == "as" {
            var included = try String(contentsOf: url.deletingLastPathComponent().appendingPathComponent(String(words[2])), encoding: .utf8)
            while included.hasSuffix("\n") { included.removeLast() }
            lines.append("local \(words[4]) = function(KEYS, ARGV)\n\(included)\nend")
        } else if words == ["--!", "keys", "span", "slots"] {
            keysShareSlot = false
        } else {
            lines.append(String(line))
        }
    }
    source = lines.joined(separator: "\n")
    while source.hasSuffix("\n") { source.removeLast() }
    generated += "    /// `scripts/lua/\(url.lastPathComponent)`\n"
    generated += "    public static let \(identifier(for: name)) = RedisScript(name: \"\(name)\", source: \(rawLiteral(source))"
    generated += keysShareSlot ? ")\n\n" : ", keysShareSlot: false)\n\n"
}
generated += "}\n"
try generated.write(toFile: output, atomically: true, encoding: .utf8)
