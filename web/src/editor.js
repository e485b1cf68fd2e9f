// The code editor: CodeMirror 6 with the languages the service runs, Ctrl/Cmd-Enter to run, and
// validation findings as lint diagnostics at their line (underline and gutter marker).
import { EditorView, basicSetup } from "codemirror";
import { Compartment, Prec } from "@codemirror/state";
import { keymap } from "@codemirror/view";
import { StreamLanguage } from "@codemirror/language";
import { lintGutter, setDiagnostics } from "@codemirror/lint";
import { python } from "@codemirror/lang-python";
import { javascript } from "@codemirror/lang-javascript";
import { cpp } from "@codemirror/lang-cpp";
import { java } from "@codemirror/lang-java";
import { rust } from "@codemirror/lang-rust";
import { go } from "@codemirror/lang-go";
import { shell } from "@codemirror/legacy-modes/mode/shell";

/** Syntax support by the service's language names (GET /v1/languages); others get plain text. */
const SUPPORT = {
  python: () => python(),
  javascript: () => javascript(),
  typescript: () => javascript({ typescript: true }),
  c: () => cpp(),
  cpp: () => cpp(),
  java: () => java(),
  rust: () => rust(),
  go: () => go(),
  bash: () => StreamLanguage.define(shell),
};

/** The nonce the server put in this page's CSP for CodeMirror's own <style> element. */
function styleNonce() {
  return document.querySelector('meta[name="csp-nonce"]')?.content || "";
}

export class CodeEditor {
  constructor(parent, { doc = "", onRun }) {
    this.language = new Compartment();
    this.view = new EditorView({
      parent,
      doc,
      extensions: [
        EditorView.cspNonce.of(styleNonce()),
        // Above basicSetup: its keymap binds Mod-Enter to "insert blank line".
        Prec.highest(
          keymap.of([
            {
              key: "Mod-Enter",
              run: () => {
                onRun();
                return true;
              },
            },
          ]),
        ),
        basicSetup,
        lintGutter(),
        this.language.of([]),
        EditorView.contentAttributes.of({ "aria-label": "Code" }),
      ],
    });
  }

  get text() {
    return this.view.state.doc.toString();
  }

  set text(value) {
    this.view.dispatch({ changes: { from: 0, to: this.view.state.doc.length, insert: value } });
  }

  setLanguage(name) {
    const make = SUPPORT[name];
    this.view.dispatch({ effects: this.language.reconfigure(make ? make() : []) });
  }

  /** Findings (the API's `{line, col, message, rule_id, action}`) as diagnostics; [] clears them. */
  showFindings(findings, file) {
    const doc = this.view.state.doc;
    const diagnostics = findings
      .filter((f) => !file || !f.file || f.file === file)
      .map((f) => {
        const line = doc.line(Math.min(Math.max(f.line || 1, 1), doc.lines));
        const from = Math.min(line.from + Math.max(f.col || 0, 0), line.to);
        return {
          from,
          to: line.to > from ? line.to : from,
          severity: f.action === "warn" ? "warning" : "error",
          source: f.rule_id,
          message: f.message,
        };
      });
    this.view.dispatch(setDiagnostics(this.view.state, diagnostics));
  }

  /** Put the cursor at the start of `line` (1-based) and focus the editor. */
  goToLine(line) {
    const doc = this.view.state.doc;
    const target = doc.line(Math.min(Math.max(line, 1), doc.lines));
    this.view.dispatch({ selection: { anchor: target.from }, scrollIntoView: true });
    this.view.focus();
  }
}
