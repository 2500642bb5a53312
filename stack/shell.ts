// Splits a command written as a string into words the way compose does (go-shellwords): spaces
// separate words; single quotes are literal; double quotes keep spaces and honour \" \\ \$ \`;
// a backslash outside quotes escapes the next character. No variables, globs or operators.

export class ShellSplitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ShellSplitError';
  }
}

export function shellSplit(s: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i] ?? '';
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      continue;
    }
    inWord = true;
    if (c === '\\') {
      if (i + 1 >= s.length) throw new ShellSplitError(`unfinished escape at the end of ${JSON.stringify(s)}`);
      word += s[++i];
    } else if (c === "'") {
      const end = s.indexOf("'", i + 1);
      if (end < 0) throw new ShellSplitError(`unterminated single quote in ${JSON.stringify(s)}`);
      word += s.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < s.length && s[j] !== '"'; j++) {
        if (s[j] === '\\' && j + 1 < s.length && '"\\$`'.includes(s[j + 1] ?? '')) j++;
        word += s[j];
      }
      if (j >= s.length) throw new ShellSplitError(`unterminated double quote in ${JSON.stringify(s)}`);
      i = j;
    } else {
      word += c;
    }
  }
  if (inWord) words.push(word);
  return words;
}
