//! One run: capture reader → decoder → flow table → dissectors → model.
