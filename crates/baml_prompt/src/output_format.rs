//! `ctx.output_format`: the text that tells the model what shape to answer in.
