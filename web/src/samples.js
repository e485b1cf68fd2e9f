// A first program for each language the service runs (its `name` in GET /v1/languages).
export const SAMPLES = {
  python: 'print("Hello from the sandbox")\nfor i in range(3):\n    print("line", i)\n',
  javascript: 'console.log("Hello from the sandbox");\n',
  typescript: 'const greeting: string = "Hello from the sandbox";\nconsole.log(greeting);\n',
  c: '#include <stdio.h>\n\nint main(void) {\n    printf("Hello from the sandbox\\n");\n    return 0;\n}\n',
  cpp: '#include <iostream>\n\nint main() {\n    std::cout << "Hello from the sandbox" << std::endl;\n}\n',
  java: 'public class Main {\n    public static void main(String[] args) {\n        System.out.println("Hello from the sandbox");\n    }\n}\n',
  rust: 'fn main() {\n    println!("Hello from the sandbox");\n}\n',
  go: 'package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Println("Hello from the sandbox")\n}\n',
  bash: 'echo "Hello from the sandbox"\nuname -sr\n',
};

/** Whether `text` is still one of the samples (or empty): switching language may replace it. */
export function untouched(text) {
  return !text.trim() || Object.values(SAMPLES).includes(text);
}
