import Foundation
import PackagePlugin

/// Compiles every `scripts/lua/*.lua` into the target as a `RedisScript` constant, so the files in
/// `scripts/lua` stay the only copy of each script (SwiftPM resources would have to live inside
/// the target's folder).
@main
struct EmbedLuaScripts: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let directory = context.package.directoryURL.appending(path: "scripts/lua")
        let scripts = try FileManager.default
            .contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "lua" }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        let output = context.pluginWorkDirectoryURL.appending(path: "LuaScripts+embedded.swift")
        return [
            .buildCommand(
                displayName: "Embedding \(scripts.count) Lua scripts from scripts/lua",
                executable: try context.tool(named: "EmbedLua").url,
                arguments: [output.path] + scripts.map(\.path),
                inputFiles: scripts,
                outputFiles: [output]
            ),
        ]
    }
}
