//! The parser's error: Docker's words, with the line the instruction starts on.

/// Why a Dockerfile was refused. `Display` reads as dockerd's classic builder words it
/// (`dockerfile parse error on line 3: unknown instruction: RUNN`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The file has no bytes (or only whitespace).
    #[error("the Dockerfile ({0}) cannot be empty")]
    Empty(String),
    /// The file has only comments and parser directives.
    #[error("file with no instructions")]
    NoInstructions,
    /// One instruction (or directive) is malformed.
    #[error("dockerfile parse error on line {line}: {message}")]
    Line {
        /// 1-based line the instruction starts on.
        line: usize,
        /// The instruction's keyword as written (`RUN`, `copy`), empty for directives.
        instruction: String,
        /// What is wrong, in Docker's words where Docker has them.
        message: String,
    },
}

impl ParseError {
    pub(crate) fn at(line: usize, instruction: &str, message: impl Into<String>) -> Self {
        ParseError::Line {
            line,
            instruction: instruction.to_string(),
            message: message.into(),
        }
    }

    /// The line the error is on, when there is one.
    pub fn line(&self) -> Option<usize> {
        match self {
            ParseError::Line { line, .. } => Some(*line),
            _ => None,
        }
    }
}

/// A message without a line yet; the instruction parser adds it.
pub(crate) type Msg = String;
