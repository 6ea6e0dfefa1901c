/// Splits a command line into words the way `sh` does for the simple forms the dispatcher writes:
/// blanks separate words, single quotes quote literally (so `'\''` yields a quote), double quotes quote
/// with `\"` and `\\` escapes, and a backslash outside quotes escapes the next character.
enum ShellWords {
    static func split(_ command: String) -> [String] {
        var words: [String] = []
        var word = ""
        var inWord = false
        var characters = command.makeIterator()
        while let character = characters.next() {
            switch character {
            case " ", "\t", "\n":
                if inWord { words.append(word) }
                word = ""
                inWord = false
            case "'":
                inWord = true
                while let quoted = characters.next(), quoted != "'" { word.append(quoted) }
            case "\"":
                inWord = true
                while let quoted = characters.next(), quoted != "\"" {
                    if quoted == "\\", let escaped = characters.next() {
                        if escaped != "\"" && escaped != "\\" { word.append("\\") }
                        word.append(escaped)
                    } else {
                        word.append(quoted)
                    }
                }
            case "\\":
                inWord = true
                if let escaped = characters.next() { word.append(escaped) }
            default:
                inWord = true
                word.append(character)
            }
        }
        if inWord { words.append(word) }
        return words
    }
}
