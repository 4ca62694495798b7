//! A whole Dockerfile: the global ARGs before the first FROM, then the stages.

use crate::error::ParseError;
use crate::instruction::{self, Instruction};
use crate::lines::{self, Directives};

/// One instruction with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The 1-based line it starts on.
    pub line: usize,
    /// The last line it covers (continuations, heredoc bodies).
    pub end_line: usize,
    /// The instruction as written, continuations joined (`Step N/M : <original>`).
    pub original: String,
    /// The instruction, typed.
    pub instruction: Instruction,
}

/// A build stage: a FROM and what follows it up to the next FROM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// Its position, from 0 (`COPY --from=0`).
    pub index: usize,
    /// `AS name`, lower-cased.
    pub name: Option<String>,
    /// The image as written (substitution not done yet).
    pub base: String,
    /// `FROM --platform=`.
    pub platform: Option<String>,
    /// The FROM itself, then the stage's instructions.
    pub steps: Vec<Step>,
}

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// The parser directives.
    pub directives: Directives,
    /// ARGs before the first FROM: usable in FROM lines only.
    pub global_args: Vec<Step>,
    /// The stages, in order.
    pub stages: Vec<Stage>,
}

impl Dockerfile {
    /// Parses a file named `Dockerfile`.
    pub fn parse(text: &str) -> Result<Dockerfile, ParseError> {
        Dockerfile::parse_named(text, "Dockerfile")
    }

    /// Parses; `name` only appears in the message for an empty file.
    pub fn parse_named(text: &str, name: &str) -> Result<Dockerfile, ParseError> {
        if text.trim().is_empty() {
            return Err(ParseError::Empty(name.to_string()));
        }
        let (directives, logical) = lines::split(text)?;
        if logical.is_empty() {
            return Err(ParseError::NoInstructions);
        }
        let mut global_args = Vec::new();
        let mut stages: Vec<Stage> = Vec::new();
        for l in logical {
            let word = lines::keyword(&l.text).to_string();
            let instruction = instruction::parse(&l.text, l.heredocs, directives.escape)
                .map_err(|m| ParseError::at(l.start, &word, m))?;
            let step = Step {
                line: l.start,
                end_line: l.end,
                original: l.text,
                instruction,
            };
            match &step.instruction {
                Instruction::From(from) => {
                    if let Some(name) = &from.name {
                        if stages.iter().any(|s| s.name.as_ref() == Some(name)) {
                            return Err(ParseError::at(
                                step.line,
                                &word,
                                format!("duplicate stage name \"{name}\""),
                            ));
                        }
                    }
                    stages.push(Stage {
                        index: stages.len(),
                        name: from.name.clone(),
                        base: from.image.clone(),
                        platform: from.platform.clone(),
                        steps: vec![step],
                    });
                }
                Instruction::Arg(_) if stages.is_empty() => global_args.push(step),
                _ => match stages.last_mut() {
                    Some(stage) => stage.steps.push(step),
                    None => {
                        return Err(ParseError::at(
                            step.line,
                            &word,
                            "no build stage in current context",
                        ));
                    }
                },
            }
        }
        Ok(Dockerfile {
            directives,
            global_args,
            stages,
        })
    }

    /// Every step in file order (global ARGs, then each stage's), as the classic builder
    /// numbers them.
    pub fn steps(&self) -> impl Iterator<Item = &Step> {
        self.global_args
            .iter()
            .chain(self.stages.iter().flat_map(|s| s.steps.iter()))
    }

    /// The stage a `--from`/`FROM` word names: a stage name (case-insensitive) or an
    /// index, among the stages before `before`.
    pub fn stage_ref(&self, word: &str, before: usize) -> Option<usize> {
        let lower = word.to_ascii_lowercase();
        self.stages[..before.min(self.stages.len())]
            .iter()
            .find(|s| s.name.as_deref() == Some(lower.as_str()))
            .map(|s| s.index)
            .or_else(|| word.parse::<usize>().ok().filter(|i| *i < before))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_and_global_args() {
        let df = Dockerfile::parse(
            "ARG V=1\nFROM a:$V AS one\nRUN x\nfrom one\nCOPY --from=one /a /b\n",
        )
        .unwrap();
        assert_eq!(df.global_args.len(), 1);
        assert_eq!(df.stages.len(), 2);
        assert_eq!(
            (
                df.stages[0].name.as_deref(),
                df.stages[0].base.as_str(),
                df.stages[0].steps.len()
            ),
            (Some("one"), "a:$V", 2)
        );
        assert_eq!(df.stages[1].steps[1].original, "COPY --from=one /a /b");
        assert_eq!(df.stage_ref("ONE", 1), Some(0));
        assert_eq!(df.stage_ref("0", 1), Some(0));
        assert_eq!(df.stage_ref("one", 0), None);
        assert_eq!(df.steps().count(), 5);
    }

    #[test]
    fn file_level_errors() {
        let e = |s: &str| Dockerfile::parse(s).unwrap_err().to_string();
        assert_eq!(e(""), "the Dockerfile (Dockerfile) cannot be empty");
        assert_eq!(e(" \n\n"), "the Dockerfile (Dockerfile) cannot be empty");
        assert_eq!(e("# just a comment\n"), "file with no instructions");
        assert_eq!(
            e("RUN x\nFROM a"),
            "dockerfile parse error on line 1: no build stage in current context"
        );
        assert_eq!(
            e("FROM a AS x\nFROM b as X"),
            "dockerfile parse error on line 2: duplicate stage name \"x\""
        );
        assert_eq!(
            e("FROM a\n\n  runn x"),
            "dockerfile parse error on line 3: unknown instruction: runn"
        );
        let err = Dockerfile::parse("FROM a\nENV \\\n  x").unwrap_err();
        assert_eq!(
            err,
            ParseError::Line {
                line: 2,
                instruction: "ENV".into(),
                message: "ENV must have two arguments".into()
            }
        );
    }
}
